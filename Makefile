.PHONY: run test bench schema protos
run:    ## embedded stack with demo data and GraphiQL
	scripts/run.sh
test:   ## setup + lint + types + the whole suite
	scripts/test.sh
bench:  ## latency table
	scripts/bench.sh
schema: ## regenerate gateway/schema.graphql from the code
	.venv/bin/python -m gateway.export_schema
protos:
	scripts/gen_protos.sh
