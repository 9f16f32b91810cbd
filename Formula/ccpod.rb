# Homebrew formula: builds ccpod from a tagged source tarball made by
# scripts/release.sh (it carries VERSION, so `ccpod --version` names the tag).
# Where the project publishes releases is not fixed yet: set homepage, url and
# sha256 to the published tarball and its line of dist/SHA256SUMS.
class Ccpod < Formula
  desc "Use Claude Code on your laptop and on a GPU pod as one workspace"
  homepage "https://github.com/ccpod/ccpod"
  url "https://github.com/ccpod/ccpod/releases/download/v0.1.0/ccpod-0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"

  depends_on xcode: ["15.0", :build]
  uses_from_macos "swift", since: :sonoma
  uses_from_macos "sqlite" # the cost ledger (GRDB links the system's SQLite)

  def install
    system "swift", "build", "--disable-sandbox", "-c", "release", "--product", "ccpod"
    bin.install ".build/release/ccpod"
    generate_completions_from_executable(bin/"ccpod", "--generate-completion-script")
    system "swift", "package", "--disable-sandbox", "--allow-writing-to-directory", "man",
           "generate-manual", "--multi-page", "-o", "man"
    man1.install Dir["man/**/*.1"]
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/ccpod --version")
    (testpath/"pod").mkpath
    assert_match "tools: sh", shell_output("#{bin}/ccpod check --pod local:#{testpath}/pod")
  end
end
