/// Topology files the fast layer's tests share.
public enum Topologies {
    /// Three Debian servers over ssh (`server-a` the seed, pause_minority), no load balancer: nothing is
    /// contacted by parsing or opening it.
    public static let threeDebianServers = """
        cluster:
          seed: server-a
          partition_handling: pause_minority
        nodes:
          - name: server-a
            host: ServerA
            reach: ssh://root@ServerA
          - name: server-b
            host: ServerB
            reach: ssh://root@ServerB
          - name: server-c
            host: ServerC
            reach: ssh://root@ServerC
        """
}
