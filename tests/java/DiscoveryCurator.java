import java.util.Collection;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;

/**
 * Curator's curator-x-discovery on the same paths as zk_recipes::discovery.
 *
 * register HOSTS BASE SERVICE ID ADDRESS PORT: registers a DYNAMIC instance, prints
 *   "REGISTERED <service> <id>", stays registered until killed.
 * list HOSTS BASE SERVICE [WANT_ID]: waits (at most 30 s) until WANT_ID is listed, then prints
 *   one "INSTANCE <service> <id> <address> <port> <enabled>" line per instance and "END".
 */
public class DiscoveryCurator {
    public static void main(String[] args) throws Exception {
        String mode = args[0];
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(args[1], new RetryOneTime(100))) {
            client.start();
            ServiceDiscovery<Void> discovery = ServiceDiscoveryBuilder.builder(Void.class)
                .client(client).basePath(args[2]).build();
            discovery.start();
            if (mode.equals("register")) {
                ServiceInstance<Void> instance = ServiceInstance.<Void>builder()
                    .name(args[3]).id(args[4]).address(args[5]).port(Integer.parseInt(args[6])).build();
                discovery.registerService(instance);
                System.out.println("REGISTERED " + args[3] + " " + args[4]);
                System.out.flush();
                Thread.sleep(Long.MAX_VALUE);
            } else {
                String want = args.length > 4 ? args[4] : null;
                long until = System.currentTimeMillis() + 30_000;
                Collection<ServiceInstance<Void>> found;
                while (true) {
                    found = discovery.queryForInstances(args[3]);
                    boolean ok = want == null || found.stream().anyMatch(i -> i.getId().equals(want));
                    if (ok || System.currentTimeMillis() > until) break;
                    Thread.sleep(100);
                }
                for (ServiceInstance<Void> i : found) {
                    System.out.println("INSTANCE " + i.getName() + " " + i.getId() + " " + i.getAddress()
                        + " " + i.getPort() + " " + i.isEnabled());
                }
                System.out.println("END");
            }
            discovery.close();
        }
    }
}
