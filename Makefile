# ccpod: build, install and package.
#
#   make                      release build (.build/release/ccpod; on Linux with the Swift
#                             runtime linked in when it can be: scripts/link-flags.sh)
#   make install PREFIX=~/.local   binary, man pages, shell completions
#   make uninstall PREFIX=…
#   make static               Swift runtime linked in (Linux): runs without a Swift toolchain
#   make release              tarball + SHA-256 sum under dist/ (scripts/release.sh)
#   make test                 the README's test command
#
# Variables: PREFIX (default /usr/local), DESTDIR (staging root for packagers), SWIFT.

PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR = $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR = $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR = $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
LINK_FLAGS := $(shell scripts/link-flags.sh)
BIN = .build/release/ccpod
GEN = .build/ccpod-install

.PHONY: all build static man completions install uninstall release test clean

all: build

build:
	$(SWIFT) build -c release --product ccpod $(LINK_FLAGS)

static:
	scripts/static-build.sh

# Man pages from the command tree (swift-argument-parser's generate-manual plugin).
man: build
	rm -rf $(GEN)/man && mkdir -p $(GEN)/man
	$(SWIFT) package --allow-writing-to-directory $(GEN)/man generate-manual --multi-page -o $(GEN)/man

completions: build
	mkdir -p $(GEN)/completions
	$(BIN) --generate-completion-script bash > $(GEN)/completions/ccpod.bash
	$(BIN) --generate-completion-script zsh > $(GEN)/completions/_ccpod
	$(BIN) --generate-completion-script fish > $(GEN)/completions/ccpod.fish

install: build man completions
	install -d $(BINDIR) $(MANDIR) $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	install -m 0755 $(BIN) $(BINDIR)/ccpod
	find $(GEN)/man -name '*.1' -exec install -m 0644 {} $(MANDIR)/ \;
	install -m 0644 $(GEN)/completions/ccpod.bash $(BASHDIR)/ccpod
	install -m 0644 $(GEN)/completions/_ccpod $(ZSHDIR)/_ccpod
	install -m 0644 $(GEN)/completions/ccpod.fish $(FISHDIR)/ccpod.fish

uninstall:
	rm -f $(BINDIR)/ccpod $(BASHDIR)/ccpod $(ZSHDIR)/_ccpod $(FISHDIR)/ccpod.fish
	rm -f $(MANDIR)/ccpod.1 $(MANDIR)/ccpod.*.1

release:
	scripts/release.sh

test:
	$(SWIFT) test

clean:
	rm -rf .build dist
