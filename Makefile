# Shortcuts for developers; scripts/test.sh is what CI runs.
.PHONY: build test fuzz soak
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

# The chaos test at 8,000 tiles instead of 2,000 (MQC_CHAOS_SCALE=2).
soak:
	MQC_CHAOS_SCALE=2 MQC_REQUIRE_MOSQUITTO=1 go test -race -count=1 -run TestChaos -v -timeout 30m ./e2e
