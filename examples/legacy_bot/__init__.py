"""A small WhatsApp support bot written for the 360dialog On-Premise API v1.

It is the kind of code waba-migrate exists for: ``requests`` calls to
``https://waba.360dialog.io/v1/...`` with a ``D360-API-KEY`` header, legacy
``hsm`` templates, media downloads from ``/v1/media/{id}``, read receipts via
``PUT /v1/messages/{id}`` and a webhook handler that reads flat On-Prem bodies.
"""
