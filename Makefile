# The README's commands. Both install the Debian packages they need first (as root).
.PHONY: wizard demo test deps build clean

deps:
	scripts/install-deps.sh

build:
	swift build

wizard: deps
	scripts/wizard.sh

demo: deps
	scripts/demo.sh

test: deps
	swift build --build-tests
	swift test --skip-build

clean:
	rm -rf .build
