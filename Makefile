# Shortcuts for developers; scripts/test.sh is what CI runs.
.PHONY: build test fuzz
build:
	go build -o mqcluster ./cmd/mqcluster

test:
	scripts/test.sh

# Every fuzz target for FUZZTIME each (default 2m).
FUZZTIME ?= 2m
fuzz:
	scripts/fuzz.sh $(FUZZTIME)
