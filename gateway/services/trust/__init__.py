"""Trust: key pauses, network sightings, runway, the trial gate."""
