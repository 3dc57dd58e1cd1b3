"""The review layer: a proposal's journey through the ISAP checkpoints.

The state machine (`lifecycle`) decides what may happen; the service carries it out against
the store, one command at a time, and answers the questions the dashboard and CLI ask.
"""
