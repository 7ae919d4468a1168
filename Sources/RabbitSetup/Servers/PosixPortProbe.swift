/// TCP ports probed from a server (a node's host, the load balancer's), each within 3 s, so that a silent
/// peer (a cut or filtered network: no RST, no ICMP) is named at once instead of after a CLI's ~60 s.
enum PosixPortProbe {
    /// `bash -c SCRIPT probe MODE HOST:PORT...`: prints `ok HOST:PORT` or `no HOST:PORT` for each. Mode
    /// `tcp` connects; `amqp` also sends the AMQP 0-9-1 protocol header and expects the first byte of a
    /// method frame (type 1, Connection.Start) back. The endpoints are probed at once (3 s each at most);
    /// the lines come in any order.
    static let script = #"""
        mode=$1; shift
        for hp in "$@"; do
            (
                if [ "$mode" = amqp ]; then
                    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "AMQP\0\0\11\1" >&3 && head -c 1 <&3 | od -An -tx1' probe "${hp%:*}" "${hp##*:}" 2>/dev/null | grep -q 01
                else
                    timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe "${hp%:*}" "${hp##*:}" 2>/dev/null
                fi && echo "ok $hp" || echo "no $hp"
            ) &
        done
        wait
        """#

    static func argv(amqp: Bool, _ endpoints: [String]) -> [String] {
        ["bash", "-c", script, "probe", amqp ? "amqp" : "tcp"] + endpoints
    }

    /// The endpoints that answered, from the probe's output.
    static func answered(_ stdout: String) -> Set<String> {
        Set(stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }.map { String($0.dropFirst(3)) })
    }
}
