"""Cases' DataLoaders: none yet. They arrive with the cases service's reads (issue: cases);
build them with gateway.schema.common.by_id / batch_loader."""
