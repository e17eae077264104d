"""When a sign-in ends, the user's open WebSockets end too (close code 4401), in every daphne process.

A socket is authenticated once, at its handshake (or by a voice PIN), so without this a logged-out browser kept
receiving notifications and recording. Each authenticated socket joins two sign-out groups: its user's
(`signout.user.{id}`) and, when it came in with a login session cookie, that session's (`signout.session.{digest}`;
a digest, so no session key is written to Redis). Then:

- logout closes the sockets of that browser's session (the user's other devices stay connected);
- a password change, deactivation or deletion closes every socket of the user (PIN-authenticated ones too);
- a PIN change (`/voice/pin/`) or reset (the admin's action) closes the user's PIN-authenticated voice sockets
  (whoever guessed the old PIN is out; the owner's logged-in browsers stay connected).

The voice socket hears it through the channel layer (a group); the notifications socket, which has no channel
layer, through its process's hub (the notifications control channel). Both are sent after the commit.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from infra.signout import EVENT, pin_group, session_group, user_group
from voice.models import VoiceProfile

log = logging.getLogger(__name__)


def close_sockets(group: str) -> None:
    """Close every socket in `group`, in every process; a Redis failure is logged, never raised (the logout
    or save that asked must still succeed)."""
    from notifications.publish import publish_signout

    try:
        async_to_sync(get_channel_layer().group_send)(group, {"type": EVENT})
    except Exception:
        log.exception("Could not close the voice sockets of a signed-out user")
    publish_signout(group)


def close_user_sockets(user_id: int) -> None:
    close_sockets(user_group(user_id))


@receiver(user_logged_out, dispatch_uid="signout-logged-out")
def logged_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        close_sockets(session_group(session_key))


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="signout-user-pre-save")
def note_credential_change(sender, instance, update_fields=None, **kwargs) -> None:
    """Before a user is saved: remember whether its password changed or it was deactivated."""
    instance._signout_sockets = False
    if instance.pk is None or (update_fields is not None and not {"password", "is_active"} & set(update_fields)):
        return  # a new user, or e.g. `last_login` on every login: no query
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    instance._signout_sockets = before is not None and (
        before["password"] != instance.password or (before["is_active"] and not instance.is_active)
    )


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="signout-user-saved")
def credential_changed(sender, instance, **kwargs) -> None:
    if getattr(instance, "_signout_sockets", False):
        instance._signout_sockets = False
        user_id = instance.pk
        transaction.on_commit(lambda: close_user_sockets(user_id))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="signout-user-deleted")
def user_deleted(sender, instance, **kwargs) -> None:
    user_id = instance.pk
    transaction.on_commit(lambda: close_user_sockets(user_id))


@receiver(pre_save, sender=VoiceProfile, dispatch_uid="signout-pin-pre-save")
def note_pin_change(sender, instance, update_fields=None, **kwargs) -> None:
    """Before a voice profile is saved: remember whether its PIN changed (set anew or reset)."""
    instance._signout_pin_sockets = False
    if instance.pk is None or (update_fields is not None and "pin_hash" not in update_fields):
        return  # a new profile has no PIN sockets yet; `pin_digits` learnt at a PIN login changes no PIN
    before = sender.objects.filter(pk=instance.pk).values_list("pin_hash", flat=True).first()
    instance._signout_pin_sockets = before is not None and before != instance.pin_hash


@receiver(post_save, sender=VoiceProfile, dispatch_uid="signout-pin-saved")
def pin_changed(sender, instance, **kwargs) -> None:
    if getattr(instance, "_signout_pin_sockets", False):
        instance._signout_pin_sockets = False
        user_id = instance.user_id
        transaction.on_commit(lambda: close_sockets(pin_group(user_id)))
