"""Contacts' DataLoaders: none yet. They arrive with the contacts service's reads (issue: contacts);
build them with gateway.schema.common.by_id / batch_loader."""
