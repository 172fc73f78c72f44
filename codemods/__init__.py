"""Source-to-source transforms that move code off the On-Premise API v1.

Layers, each usable on its own:

- ``rules``      the rule registry (codes, applicability, examples): data for docs and tests
- ``urls``       where an On-Prem URL sits in code and what it becomes (pure, no libcst)
- ``facts``      one walk over a parsed file: scopes, constants, calls, literals
- ``payloads``   send-payload dicts rewritten by ``shim.mapping.fields.SEND_RULES``
- ``oracle``     the pure translator as referee for constant payloads
- ``webhooks``   payload expressions of webhook views wrapped with ``onprem_view``
- ``analyze``    findings and edits for one file; ``transform`` applies them
- ``engine``     one file in, findings and verified new bytes out (pure)
- ``discover``, ``prefilter``, ``runner``   many files: walking, byte test, process pool
- ``report``, ``cli``   what ``waba-migrate scan`` / ``rewrite`` print
"""
