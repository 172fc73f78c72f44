import logging
import os
from wsgiref.simple_server import make_server

from .app import application

logging.basicConfig(level=logging.INFO)
port = int(os.environ.get("PORT", "8000"))
with make_server("127.0.0.1", port, application) as server:
    print(f"legacy bot listening on http://127.0.0.1:{port}/webhook")
    server.serve_forever()
