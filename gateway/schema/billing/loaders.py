"""Billing's DataLoaders: none yet. They arrive with the billing service's reads (issue: billing);
build them with gateway.schema.common.by_id / batch_loader."""
