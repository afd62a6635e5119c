# Kiln: the two commands a fresh Debian 12 machine needs.
.PHONY: demo test build bench clean

demo:   ## the main job: local registry, base image, kiln against it
	scripts/demo.sh

test:   ## unit + integration tests, the acceptance suite, then the demo end to end
	scripts/test.sh

build:
	swift build -c release --product kiln

bench:
	bench/run.sh

clean:
	rm -rf .build .build-*
