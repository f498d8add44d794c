"""One endpoint's serving process: SageMaker's container contract over a model.tar.gz folder.

``GET /ping`` answers 200 once ``model_fn`` has loaded the model; ``POST /invocations`` runs
input_fn -> predict_fn -> output_fn from the model's own ``code/inference.py``, as SageMaker's PyTorch
inference toolkit does. An exception carrying ``status_code`` (the handler's InferenceError) is answered
with that status, anything else with 500, and the body is the toolkit's: the message, a newline, the
traceback (sagemaker_inference.transformer.Transformer.handle_error), paths and all.

    python -m local_twin.sagemaker.serve --model-dir DIR --port PORT
"""

import argparse
import importlib
import sys
import traceback
from http.server import ThreadingHTTPServer
from pathlib import Path

from local_twin.loopback import LoopbackHandler, reply

JSON = {"Content-Type": "application/json"}


def load(model_dir: Path):
    sys.path.insert(0, str(model_dir / "code"))
    handler = importlib.import_module("inference")
    return handler, handler.model_fn(str(model_dir))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    handler, model = load(args.model_dir)

    class Container(LoopbackHandler):
        def do_GET(self):
            reply(self, 200 if self.path == "/ping" else 404, b"{}", JSON)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/invocations":
                reply(self, 404, b'{"message": "not found"}', JSON)
                return
            accept = self.headers.get("Accept") or "application/json"
            try:
                data = handler.input_fn(body, self.headers.get("Content-Type"))
                answer = handler.output_fn(handler.predict_fn(data, model), accept)
                reply(self, 200, answer.encode() if isinstance(answer, str) else answer, JSON)
            except Exception as error:
                status, trace = getattr(error, "status_code", 500), traceback.format_exc()
                if status >= 500:
                    print(trace, flush=True)
                reply(self, status, f"{error}\n{trace}".encode(), {"Content-Type": "text/plain"})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Container)
    print(f"serving {args.model_dir} on port {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
