"""`kubedefis db`: the stack's database operations (status, failover, backups, restore) on any kubeconfig."""

from __future__ import annotations

import argparse
from typing import Any

from kubedefis.core.shell import Status
from kubedefis.stack import dbops


def _database(args: argparse.Namespace) -> dbops.Database:
    return dbops.connect(args.kubeconfig, args.context, args.namespace, args.release)


def _cmd_status(args: argparse.Namespace, out: Status) -> None:
    print(dbops.status(_database(args)))


def _cmd_promote(args: argparse.Namespace, out: Status) -> None:
    done = dbops.promote(_database(args), to=args.to, force=args.force, status_=out)
    lsns = ", ".join(f"{pod} received {r:X}" for pod, (r, _) in sorted(done.candidates.items()))
    print(f"promoted {done.new_primary} (was {done.old_primary}) in {done.seconds:.1f}s; candidates: {lsns}")


def _cmd_backup(args: argparse.Namespace, out: Status) -> None:
    with out.step("running a backup"):
        done = dbops.backup(_database(args), args.label)
    print(done.log)


def _cmd_backups(args: argparse.Namespace, out: Status) -> None:
    print(dbops.list_backups(_database(args)).log)


def _cmd_restore(args: argparse.Namespace, out: Status) -> None:
    done = dbops.restore(_database(args), args.backup, status_=out)
    print(done.log)
    print(f"restore done in {done.seconds:.1f}s")


def register(subparsers: Any) -> None:
    """Add `kubedefis db ...` to the CLI (cli.py: `db.register(sub)`)."""
    db = subparsers.add_parser("db", help="database operations: status, failover, backups, restore")
    dsub = db.add_subparsers(dest="db_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "-n", "--namespace", default=dbops.DEFAULT_NAMESPACE, help=f"default {dbops.DEFAULT_NAMESPACE}"
        )
        parser.add_argument(
            "--release", default=dbops.DEFAULT_RELEASE, help=f"Helm release (default {dbops.DEFAULT_RELEASE})"
        )
        parser.add_argument("--kubeconfig", help="default: $KUBECONFIG, else the local kind cluster's")
        parser.add_argument("--context", help="kubeconfig context")

    st = dsub.add_parser("status", help="the database nodes, their roles and replication")
    common(st)
    st.set_defaults(func=_cmd_status)
    pr = dsub.add_parser("promote", help="fail over: promote the most advanced replica to primary")
    common(pr)
    pr.add_argument("--to", help="promote this pod rather than the most advanced replica")
    pr.add_argument("--force", action="store_true", help="even if the primary still answers (switchover)")
    pr.set_defaults(func=_cmd_promote)
    bk = dsub.add_parser("backup", help="take a logical backup now")
    common(bk)
    bk.add_argument("--label", help="a logical backup named with this word (default: what the CronJob runs)")
    bk.set_defaults(func=_cmd_backup)
    ls = dsub.add_parser("backups", help="list the backups on the backup volume")
    common(ls)
    ls.set_defaults(func=_cmd_backups)
    rs = dsub.add_parser("restore", help="restore a logical backup into the running database")
    common(rs)
    rs.add_argument("--backup", default="latest", help="backup name (see `db backups`), default latest")
    rs.set_defaults(func=_cmd_restore)
