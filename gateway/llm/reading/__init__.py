"""Reading a proxied request before it is forwarded: its body validated and its worst case sized,
per wire, with what it asks to be billed for (kinds, options, betas, end user, uploads, batch
inputs, Realtime events)."""
