"""moto's server (as `moto_server -H HOST -p PORT` runs it), with one change:
DynamoDB requests are served one at a time.

moto serves requests on threads, and its TransactWriteItems is not isolated:
it checks every condition, then writes, and on a failed condition restores a
snapshot of the whole table. Two transactions at once can both pass the same
compare-and-set, and a rollback can erase a concurrent commit. Real DynamoDB
serializes transactions on the items they touch, so serializing all of
moto's DynamoDB requests is a faithful (stricter) stand-in. SQS requests stay
concurrent, so long polls do not block anything.

Started by scripts/moto; needs moto[server] (moto 5).
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


class SerializedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                # Produce the whole response inside the lock.
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True
    run_simple(
        args.host,
        args.port,
        SerializedDynamoDB(app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
