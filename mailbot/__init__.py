"""mailbot: ingests District Service Providers' weekly Jan Seva Kendra reports from CEG's mailbox."""

__version__ = "0.1.0"
