"""Who may write what: decided here, once, and called by every write service before it changes anything.

- Nobody known (anonymous, or an inactive account): no write at all (401).
- Staff: manage garages, cars and keys (create, edit, delete), lend a key to any active user,
  give any key back.
- Any other signed-in user: lend a key to themselves, give back only their own loans (403 otherwise).

The API (django-ninja auth classes) and the pages (Django's session) only establish who the caller
is; they pass that user on as the services' `actor` and never decide on their own.
"""

from typing import Any

from garage.errors import Forbidden, NotAuthenticated

# A user model instance, Django's AnonymousUser, or None (nobody at all).
Actor = Any


def known(actor: Actor) -> Any:
    """The actor when it is an active, authenticated user; NotAuthenticated (401) otherwise."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise NotAuthenticated("authentication required")
    return actor


def require_staff(actor: Actor, action: str) -> None:
    """Garages, cars and keys are managed by staff."""
    if not known(actor).is_staff:
        raise Forbidden(f"only staff may {action}")


def require_may_lend(actor: Actor, *, borrower: Any, field: str) -> None:
    """Staff lend to anyone; a user lends only to themselves (`field`: the input naming the borrower)."""
    user = known(actor)
    if not user.is_staff and user.pk != borrower.pk:
        raise Forbidden(
            "you may only lend a key to yourself", fields={field: ["only staff lend keys to other users"]}
        )


def require_may_return(actor: Actor, *, borrower_id: int) -> None:
    """Staff give any key back; a user gives back only the keys lent to them."""
    user = known(actor)
    if not user.is_staff and user.pk != borrower_id:
        raise Forbidden("you may only return your own loans")
