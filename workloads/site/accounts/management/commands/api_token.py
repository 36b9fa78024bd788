"""`manage.py api_token create|list|revoke|ensure`: the API's bearer tokens.

    api_token create --user alice [--days 90] [--name laptop]   # prints the token, once
    api_token list [--user alice]
    api_token revoke 12 13 | --user alice
    api_token ensure --user kubedefis-loadtest --staff --token-from-env KUBEDEFIS_API_TOKEN [--migrate]

`ensure` is for tokens generated outside the site (the chart's Secret): it makes the user (without a
password) and registers the token when they are missing, and changes nothing otherwise; it never
prints the token. With --migrate it first applies the migrations of the accounts app and of the
apps it depends on (auth, contenttypes), each to its latest, and only those: the chart's migration
Job runs it before the rest of the migrations, so on a fresh database the site's pods, which are
not ready while a migration is pending (/readyz), cannot become ready before the token works. With
--wait it instead waits for the database and every migration (a step that may start before the
migrations are applied).
"""

import os
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from accounts import selectors, services
from garage.errors import ApplicationError
from kubedefis_site.health import required_migrations


def _apps_tokens_need() -> list[str]:
    """accounts and every app its migrations depend on, transitively (auth, contenttypes): each
    to its latest migration (`migrate accounts` alone would stop auth at its first one)."""
    graph = MigrationLoader(connections[DEFAULT_DB_ALIAS], ignore_no_migrations=True).graph
    apps: set[str] = set()
    wanted = {"accounts"}
    while wanted - apps:
        apps |= wanted
        leaves = [leaf for leaf in graph.leaf_nodes() if leaf[0] in apps]
        wanted = {app for leaf in leaves for app, _name in graph.forwards_plan(leaf)}
    return sorted(apps)


def _error(exc: ApplicationError) -> CommandError:
    details = "; ".join(f"{field}: {', '.join(map(str, errors))}" for field, errors in exc.fields.items())
    return CommandError(f"{exc.message} ({details})" if details else exc.message)


class Command(BaseCommand):
    help = "Create, list, revoke or ensure bearer tokens of the API (stored as SHA-256)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)

        create = actions.add_parser("create", help="make a token for an existing user and print it once")
        create.add_argument("--user", required=True, help="username")
        create.add_argument("--days", type=int, default=90, help="lifetime in days (default 90)")
        create.add_argument("--name", default="", help="what or who it is for")

        listing = actions.add_parser("list", help="tokens (prefix, state, expiry), never the tokens")
        listing.add_argument("--user", help="only this user's tokens")

        revoke = actions.add_parser("revoke", help="revoke tokens by id, or every token of a user")
        revoke.add_argument("ids", nargs="*", type=int, help="token ids (from `list`)")
        revoke.add_argument("--user", help="revoke every token of this user")

        ensure = actions.add_parser("ensure", help="register a token given in an environment variable")
        ensure.add_argument("--user", required=True, help="username (created without a password if missing)")
        ensure.add_argument(
            "--token-from-env",
            required=True,
            metavar="VARIABLE",
            help="environment variable holding the token",
        )
        ensure.add_argument("--days", type=int, default=365, help="lifetime of a new token (default 365)")
        ensure.add_argument("--staff", action="store_true", help="a user created now is staff")
        ensure.add_argument("--name", default="", help="what or who it is for")
        before = ensure.add_mutually_exclusive_group()
        before.add_argument(
            "--migrate",
            action="store_true",
            help="first apply the accounts app's migrations (and those it depends on), nothing else",
        )
        before.add_argument(
            "--wait", type=float, default=0.0, help="seconds to wait for the database and its migrations"
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except ApplicationError as exc:
            raise _error(exc) from None

    def _create(self, *, user: str, days: int, name: str, **options: Any) -> None:
        owner = get_user_model()._default_manager.filter(username=user).first()
        if owner is None:
            raise CommandError(f"no user {user!r}")
        api_token, token = services.token_create(user=owner, days=days, name=name)
        self.stderr.write(
            f"token {api_token.pk} for {user}, expires {api_token.expires_at:%Y-%m-%d %H:%M %Z}; "
            "it is shown once, below: keep it now"
        )
        self.stdout.write(token)

    def _list(self, *, user: str | None, **options: Any) -> None:
        rows = selectors.token_list(username=user)
        self.stdout.write("id\tuser\tprefix\tstate\texpires\tlast used\tname")
        for row in rows:
            last_used = f"{row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "-"
            self.stdout.write(
                f"{row['id']}\t{row['user']}\t{row['prefix']}…\t{row['state']}\t"
                f"{row['expires_at']:%Y-%m-%d}\t{last_used}\t{row['name']}"
            )

    def _revoke(self, *, ids: list[int], user: str | None, **options: Any) -> None:
        if not ids and user is None:
            raise CommandError("give token ids or --user")
        count = services.token_revoke(token_ids=ids, username=user)
        self.stdout.write(f"{count} token(s) revoked")

    def _ensure(
        self,
        *,
        user: str,
        token_from_env: str,
        days: int,
        staff: bool,
        name: str,
        migrate: bool,
        wait: float,
        **options: Any,
    ) -> None:
        token = os.environ.get(token_from_env, "")
        if not token:
            raise CommandError(f"environment variable {token_from_env} is empty or not set")
        if migrate:
            for app in _apps_tokens_need():
                call_command(
                    "migrate",
                    app,
                    interactive=False,
                    verbosity=int(options.get("verbosity", 1)),
                    stdout=self.stdout,
                    stderr=self.stderr,
                )
        if wait > 0:
            self._wait_for_schema(wait)
        api_token, state = services.token_ensure(
            username=user, token=token, days=days, staff=staff, name=name
        )
        message = f"token {api_token.prefix}… of {user}: {state}, expires {api_token.expires_at:%Y-%m-%d}"
        if state in ("revoked", "expired"):
            # Not an error: the release must go on (the migration Job, a pod). The token stays refused
            # until replaced.
            self.stderr.write(f"warning: {message}; give a new token to use it again")
        else:
            self.stdout.write(message)

    def _wait_for_schema(self, timeout: float) -> None:
        """Until the database answers and every migration the site needs is applied."""
        connection = connections[DEFAULT_DB_ALIAS]
        deadline = time.monotonic() + timeout
        while True:
            try:
                executor = MigrationExecutor(connection)
                plan = executor.migration_plan(required_migrations(executor.loader))
                pending = [migration for migration, backwards in plan if not backwards]
                reason = f"{len(pending)} migration(s) to apply" if pending else ""
            except DatabaseError as exc:
                connection.close()
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if not reason:
                return
            if time.monotonic() > deadline:
                raise CommandError(f"database not ready after {timeout:g}s: {reason}")
            self.stderr.write(f"waiting for the database: {reason}")
            time.sleep(2)
