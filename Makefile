# Shortcuts for developers; scripts/test.sh is what CI runs.
.PHONY: build test fuzz
build:
	go build -o mqcluster ./cmd/mqcluster

test:
	scripts/test.sh

# Every Go fuzz target for FUZZTIME each (default 2m), then the firmware's
# libFuzzer target for 10 minutes.
FUZZTIME ?= 2m
fuzz:
	scripts/fuzz.sh $(FUZZTIME)
	$(MAKE) -C firmware fuzz
