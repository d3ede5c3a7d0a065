"""Logged-in test clients, each made the one way that keeps reads fresh."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.test import Client

from dbops.cluster import Cluster


def logged_in_client(
    cluster: Cluster, username: str, *codenames: str, is_staff: bool = True
) -> Client:
    """A client of a new user with these permissions, once the replica has
    the user's session.

    force_login writes the session on the primary without a response, so no
    read-your-writes cookie comes with it: the first page could read a
    replica that has not replayed the session yet and send the user to the
    login page. A real visitor's next click comes after replay; so does this.
    """
    user = User.objects.create_user(
        username=username, password="pw-for-tests", is_staff=is_staff
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    cluster.wait_for_replay()
    return client
