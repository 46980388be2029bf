"""Contacts' mutations: none yet (createContact … arrive with the contacts service)."""

from __future__ import annotations

import strawberry


@strawberry.type
class ContactsMutation:
    pass
