"""The library API: one module per domain, no printing, no prompting, progress through callbacks."""
