"""helm test (défi 11): a pod that is neither api, public nor migrate cannot reach PostgreSQL.

    python db_denied_check.py HOST PORT TIMEOUT_SECONDS
This pod carries app.kubernetes.io/component=test, which the NetworkPolicy does not allow:
opening a TCP connection to the database must fail (dropped: timeout; or rejected). A
connection that opens means the policy is missing or the CNI does not enforce it.
"""

import socket
import sys


def main() -> int:
    host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    try:
        address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4]
    except OSError as error:
        print(f"FAIL cannot resolve {host}: {error}")
        return 1
    try:
        with socket.create_connection(address[:2], timeout=timeout):
            pass
    except OSError as error:
        print(f"ok   {host}:{port} refused to this pod ({error.__class__.__name__}: {error})")
        print("1 passed, 0 failed")
        return 0
    print(f"FAIL {host}:{port} accepted a connection from a pod the NetworkPolicy should deny")
    print("0 passed, 1 failed")
    return 1


if __name__ == "__main__":
    sys.exit(main())
