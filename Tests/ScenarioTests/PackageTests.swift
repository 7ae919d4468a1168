import Foundation
import Testing

import TestKit

/// `make dist`'s package, built and installed as an admin would: into a root without the Swift toolchain
/// (this machine's root under a tmpfs overlay in a private mount namespace, /opt/swift deleted there,
/// `Tests/tools/install-in-throwaway-root.sh`), over the same build marked as version 0.0.1 (dpkg's upgrade
/// path: an installed package replaced, its files and man pages taken over; not an older release, whose
/// files could differ: that would need a build of an older commit), used (`--version`, `man`,
/// bash completion, `sandbox up` and `plan` on real nodes), and removed. The package is built from a debug
/// build here (`CONFIG=debug`) to keep CI short; `make dist` builds the same way in release.
@Suite struct PackageTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func thePackageReplacesAnInstalledCopyMarkedOlderRunsAndRemovesWithoutSwift() async throws {
        let work = Support.temporaryDirectory("rw-pkg")
        defer { Support.remove(work) }
        // At the lowest CPU priority: this build keeps both cores busy for minutes from the first second of the
        // parallel run, when the short tests with 10 s deadlines run too. A fresh-clone run where it ran at
        // their priority had every local-transport test take 12-21 s and 7 issues from commands that did not
        // start or end within 10 s (a test with no process at all took 7.2 s).
        let built = await Support.run(["nice", "-n", "19", Self.repository + "/scripts/dist.sh"], timeout: .seconds(1200),
                                      environment: ["CONFIG": "debug", "DIST": work + "/dist", "SCRATCH": Self.repository + "/.build-dist"])
        try #require(built.termination == .exited(code: 0), "make dist failed: \(built.stderr.tail)")
        let outputs = built.stdout.text.split(separator: "\n").map(String.init)
        let deb = try #require(outputs.first { $0.hasSuffix(".deb") })
        let tarball = try #require(outputs.first { $0.hasSuffix(".tar.gz") })

        // One version: the binary's (RabbitWizard.version), the package's, the man page's, the changelog's.
        let version = String((await Support.run([Support.productBinary, "--version"])).stdout.text.split(separator: " ")[1])
        #expect((await Support.run(["dpkg-deb", "-f", deb, "Version"])).stdout.text == version + "\n")
        let changelog = Support.read(Self.repository + "/CHANGELOG.md")
        let firstHeading = changelog.split(separator: "\n").first { $0.hasPrefix("## [") }.map(String.init) ?? ""
        #expect(firstHeading.hasPrefix("## [\(version)]"), "CHANGELOG's first version is \(firstHeading), the binary says \(version)")
        let page = await Support.run(["sh", "-c", "dpkg-deb --fsys-tarfile \"$0\" | tar -xO ./usr/share/man/man1/rabbit-wizard.1.gz | zcat", deb])
        #expect(page.stdout.text.contains(".Os rabbit-wizard \(version)\n"))

        let depends = (await Support.run(["dpkg-deb", "-f", deb, "Depends"])).stdout.text
        #expect(depends.contains("libncursesw6") && depends.contains("openssh-client") && !depends.contains("swift"), "\(depends)")
        let checked = await Support.run(["sh", "-c", "cd \"$(dirname \"$0\")\" && sha256sum -c \"$(basename \"$0\").sha256\"", tarball])
        #expect(checked.termination == .exited(code: 0), "\(checked.stdout.text)\(checked.stderr.text)")
        let inDeb = Set((await Support.run(["sh", "-c", "dpkg-deb -c \"$0\" | awk '{print $6}' | grep -v '/$' | sed 's|^\\./||'", deb])).stdout.text.split(separator: "\n"))
        let inTar = Set((await Support.run(["sh", "-c", "tar -tzf \"$0\" | grep -v '/$'", tarball])).stdout.text.split(separator: "\n"))
        #expect(!inDeb.isEmpty && inDeb == inTar, "the tarball holds other files than the package: \(inDeb.symmetricDifference(inTar))")
        for file in ["usr/bin/rabbit-wizard", "usr/share/man/man1/rabbit-wizard.apply.1.gz", "usr/share/bash-completion/completions/rabbit-wizard",
                     "usr/share/zsh/vendor-completions/_rabbit-wizard", "usr/share/fish/vendor_completions.d/rabbit-wizard.fish",
                     "usr/share/doc/rabbit-wizard/topology.example.yml"] {
            #expect(inDeb.contains(Substring(file)), "\(file) is not in the package")
        }

        let installed = await Support.run([Self.repository + "/Tests/tools/install-in-throwaway-root.sh", deb, work + "/install"], timeout: .seconds(600))
        #expect(installed.termination == .exited(code: 0), "\(installed.stderr.text)")
        func result(_ name: String) -> String { Support.read(work + "/install/results/" + name) }
        #expect(result("toolchain").hasPrefix("no swift"), "the throwaway root still has a Swift toolchain: \(result("toolchain"))")
        #expect(result("install-old").hasSuffix("exit 0\n") && result("version-old") == "0.0.1\n", "\(result("install-old"))")
        #expect(result("install-new").contains("over (0.0.1)") && result("install-new").hasSuffix("exit 0\n"), "\(result("install-new"))")
        #expect(result("version-new") == version + "\n")
        #expect(result("version").hasPrefix("rabbit-wizard \(version) "), "\(result("version"))")
        let ldd = result("ldd")
        #expect(ldd.contains("libncursesw") && !ldd.contains("swift") && !ldd.contains("libFoundation") && !ldd.contains("libdispatch")
                && !ldd.contains("not found"), "\(ldd)")
        #expect(result("man").contains("rabbit-wizard — Turn separate RabbitMQ servers") && result("man.err") == "exit 0\n", "\(result("man.err"))")
        #expect(result("man-plan").contains("rabbit-wizard plan"))
        #expect(result("completion").hasPrefix("complete ") && result("completion").contains("rabbit-wizard"), "\(result("completion"))")
        #expect(result("sandbox-up").hasSuffix("exit 0\n"), "\(result("sandbox-up"))")
        #expect(result("plan").contains("== cluster-join") && result("plan").hasSuffix("exit 0\n"), "\(result("plan"))")
        #expect(result("sandbox-down").hasSuffix("exit 0\n"), "\(result("sandbox-down"))")
        #expect(result("remove").hasSuffix("exit 0\n") && result("files-after").contains("is not installed"), "\(result("files-after"))")
        #expect(result("left-behind").isEmpty, "files left after dpkg -r: \(result("left-behind"))")
        #expect(result("state-after").contains("commands.jsonl"), "the state directory must survive the removal: \(result("state-after"))")
    }
}
