"""`python -m tests.emulators.kubernetes --port N [--dir DIR] [--ready-after SECONDS]
[--no-tls]`: a Kubernetes API server emulator in the foreground (Ctrl-C stops it). It prints a
kubeconfig to use (context "emulator") and writes it to DIR/kubeconfig:

    python -m tests.emulators.kubernetes --port 6443 --dir /tmp/kube > /tmp/kube.yaml &
    KUBECONFIG=/tmp/kube/kubeconfig kubectl apply --server-side -f deploy.yaml
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.support.kube import start_cluster


def main() -> int:
    parser = argparse.ArgumentParser(description="A Kubernetes API server emulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the CA, certificates and kubeconfig go (default: a new "
                             "temporary directory)")
    parser.add_argument("--ready-after", type=float, default=2.0,
                        help="seconds until a new pod is ready (default 2)")
    parser.add_argument("--no-tls", action="store_true", help="plain HTTP instead of HTTPS")
    options = parser.parse_args()
    directory = options.dir or Path(tempfile.mkdtemp(prefix="kube-emulator-"))
    cluster = start_cluster(directory, ready_after=options.ready_after, tls=not options.no_tls,
                            port=options.port)
    sys.stdout.write(cluster.kubeconfig.read_text())
    sys.stdout.flush()
    print(f"# kube-apiserver emulator at {cluster.url}; kubeconfig: {cluster.kubeconfig}",
          file=sys.stderr, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
