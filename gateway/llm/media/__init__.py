"""The routes that are not chat (images, audio, moderations, speech): reading their calls and
billing their answers."""
