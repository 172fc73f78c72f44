"""Source-to-source transforms that move code off the On-Premise API v1."""
