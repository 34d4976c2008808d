"""Structured (channel) pruning: dependency groups, group importance,
physical channel removal and FLOP counting."""
