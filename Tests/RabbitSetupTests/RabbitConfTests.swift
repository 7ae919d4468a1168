import Testing

@testable import RabbitSetup

/// `rabbitmq.conf` variants: every one ends with exactly one active line, every other byte kept, and a
/// second run changes nothing.
@Suite struct RabbitConfTests {
    static let key = "cluster_partition_handling"

    @Test(arguments: [
        ("another value", "a = 1\ncluster_partition_handling = ignore\nb = 2\n", "a = 1\ncluster_partition_handling = autoheal\nb = 2\n"),
        ("two lines", "cluster_partition_handling = ignore\nx = 1\ncluster_partition_handling = pause_minority\n",
         "cluster_partition_handling = autoheal\nx = 1\n"),
        ("no spaces", "cluster_partition_handling=ignore\n", "cluster_partition_handling = autoheal\n"),
        ("tabs and indentation", "\tcluster_partition_handling\t=\tignore\n", "\tcluster_partition_handling = autoheal\n"),
        ("trailing comment", "cluster_partition_handling = ignore # old\n", "cluster_partition_handling = autoheal\n"),
        ("commented out", "# cluster_partition_handling = autoheal\n", "# cluster_partition_handling = autoheal\ncluster_partition_handling = autoheal\n"),
        ("CRLF", "a = 1\r\ncluster_partition_handling = ignore\r\nb = 2\r\n", "a = 1\r\ncluster_partition_handling = autoheal\r\nb = 2\r\n"),
        ("CRLF, key missing", "a = 1\r\n", "a = 1\r\ncluster_partition_handling = autoheal\r\n"),
        ("no final newline", "a = 1", "a = 1\ncluster_partition_handling = autoheal"),
        ("empty file", "", "cluster_partition_handling = autoheal\n"),
        ("longer key with the same prefix", "cluster_partition_handling.pause_if_all_down.recover = ignore\n",
         "cluster_partition_handling.pause_if_all_down.recover = ignore\ncluster_partition_handling = autoheal\n"),
        ("BOM and comments kept", "\u{FEFF}## Recovery\n## strategy\ncluster_partition_handling = ignore\n",
         "\u{FEFF}## Recovery\n## strategy\ncluster_partition_handling = autoheal\n"),
        // The key right behind a byte order mark is a key: it is the one replaced, the later duplicate goes
        // (the first line was kept and the duplicate stayed).
        ("key behind a BOM, repeated later", "\u{FEFF}cluster_partition_handling = ignore\na = 1\ncluster_partition_handling = ignore\n",
         "\u{FEFF}cluster_partition_handling = autoheal\na = 1\n"),
        ("BOM only", "\u{FEFF}", "\u{FEFF}cluster_partition_handling = autoheal\n"),
    ])
    func setsExactlyOneActiveLine(label: String, before: String, expected: String) {
        let once = RabbitConf.setting(Self.key, to: "autoheal", in: Array(before.utf8))
        #expect(String(decoding: once, as: UTF8.self) == expected, "\(label)")
        #expect(RabbitConf.values(of: Self.key, in: once) == ["autoheal"], "\(label)")
        #expect(RabbitConf.setting(Self.key, to: "autoheal", in: once) == once, "\(label): second run changed it")
    }

    @Test func aKeyBehindAByteOrderMarkCounts() {
        let text = Array("\u{FEFF}cluster_partition_handling = ignore\nx = 1\ncluster_partition_handling = pause_minority\n".utf8)
        #expect(RabbitConf.values(of: Self.key, in: text) == ["ignore", "pause_minority"])
        #expect(RabbitConf.startsWithByteOrderMark(text) && !RabbitConf.startsWithByteOrderMark(Array("x = 1\n".utf8)))
    }
}

/// Cookie variants: the verdict matches Erlang's own (`lib/kernel/src/auth.erl`).
@Suite struct CookieRulesTests {
    @Test(arguments: [
        ("ABCDEF", nil as CookieRules.Problem?),
        ("ABCDEF\n", nil), ("ABCDEF\r\n", nil), ("ABCDEF  \n", nil),
        ("", .empty), ("\n", .empty),
        ("ABC\tDEF", .badCharacters), ("\u{FEFF}ABCDEF", .badCharacters), ("ÄBCDEF", .badCharacters),
        (String(repeating: "A", count: 256), .tooLong(256)),
    ])
    func matchesErlang(content: String, expected: CookieRules.Problem?) {
        #expect(CookieRules.problem(Array(content.utf8)) == expected)
    }

    @Test func trailingSpacesBeforeTheNewlineChangeNothingButInnerSpacesDo() {
        #expect(CookieRules.effective(Array("ABC \n".utf8)) == CookieRules.effective(Array("ABC".utf8)))
        #expect(CookieRules.effective(Array("AB C".utf8)) != CookieRules.effective(Array("ABC".utf8)))
    }

    @Test(arguments: [("400", false), ("600", false), ("644", true), ("440", true), ("604", true), ("junk", true)])
    func modeWithGroupOrOtherBitsIsRefused(mode: String, bad: Bool) {
        #expect(CookieRules.modeProblem(mode) == bad)
    }
}

@Suite struct NodeOutputTests {
    @Test func factsAreParsed() {
        let f = NodeFacts(output: """
            node=rabbit@ServerA
            version=3.10.8
            otp=25
            partition_handling={ok,autoheal}
            cluster_nodes=rabbit@ServerA,rabbit@ServerB
            running_nodes=rabbit@ServerA
            alarms=[]
            vhosts=/,/outsystems
            users=guest
            queues=0
            resolve ServerB=10.0.0.2
            tcp ServerB:4369=ok
            tcp ServerB:25672=econnrefused
            ok
            """)
        #expect(f.nodeName == "rabbit@ServerA")
        #expect(f.series == "3.10")
        #expect(f.effectivePartitionHandling == "autoheal")
        #expect(f.clusterNodes == ["rabbit@ServerA", "rabbit@ServerB"])
        #expect(f.holdsData)
        #expect(f.resolves == ["ServerB": "10.0.0.2"])
        #expect(f.tcp["ServerB:25672"] == "econnrefused")
    }

    @Test func clusterStatusJSONIsParsed() {
        let s = ClusterStatus(json: """
            {"running_nodes":["rabbit@a","rabbit@b"],"disk_nodes":["rabbit@a","rabbit@b","rabbit@c"],"partitions":{"rabbit@a":["rabbit@c"]},"cluster_name":"rabbit@a"}
            """)
        #expect(s?.runningNodes == ["rabbit@a", "rabbit@b"])
        #expect(s?.allNodes == ["rabbit@a", "rabbit@b", "rabbit@c"])
        #expect(s?.partitions == ["rabbit@a": ["rabbit@c"]])
        #expect(ClusterStatus(json: "{\"running_nodes\":[\"x\"],\"partitions\":{}}")?.partitions == [:])
    }
}
