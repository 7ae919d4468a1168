# The README's commands. Both install the Debian packages they need first (as root).
.PHONY: wizard demo check test bench deps build dist clean

deps:
	scripts/install-deps.sh

build:
	swift build

wizard: deps
	scripts/wizard.sh

demo: deps
	scripts/demo.sh

# The fast layer: every test outside ScenarioTests, without root, services or network (scripts/check.sh;
# as root it runs them as the user nobody). Needs only the Swift toolchain, the ncurses and OpenSSL headers and the openssl command.
check:
	swift build --build-tests
	scripts/check.sh

# Everything: the fast layer first (as nobody when run as root), then the scenarios (root, real services).
test: deps
	swift build --build-tests
	scripts/check.sh
	swift test --skip-build --filter '^ScenarioTests\.'

# Timings against the seed guide and the floor (bench/bench.py): bench/results/latest.{md,json}, naming
# the commit it measured; then the README's table from that file (bench/readme.py).
bench: deps
	swift build -c release
	python3 bench/bench.py
	python3 bench/readme.py

# A .deb and a tarball that install without a Swift toolchain (scripts/dist.sh), in dist/.
dist:
	scripts/dist.sh

clean:
	rm -rf .build .build-dist dist
