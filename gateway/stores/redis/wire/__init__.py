"""The wire to Redis: the lean auto-pipelining connection and its Cluster routing, the checked
pooled connection, what differs on a Cluster, packed commands, the scripts' loading and the reserve
reply."""
