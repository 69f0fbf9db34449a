import java.time.Instant;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.retry.RetryNTimes;

/**
 * Curator peer of the `leader` example: positional arguments connect path id leadMs; the same
 * output lines (LEADER/WORK/NOT_LEADER id token unix_ns; token = czxid of the latch node).
 * Leads for leadMs, closes its LeaderLatch, joins again with a new one; runs until killed.
 * WORK lines assert what Curator believes (hasLeadership).
 */
public class RecipeLeaderWorker {
    static long nowNs() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0], path = args[1], id = args[2];
        long leadMs = Long.parseLong(args[3]);
        try (CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect).sessionTimeoutMs(4000).connectionTimeoutMs(4000)
                .retryPolicy(new RetryNTimes(20, 100)).build()) {
            client.start();
            client.blockUntilConnected();
            System.out.println("READY " + id + " " + nowNs());
            while (true) {
                LeaderLatch latch = new LeaderLatch(client, path, id);
                latch.start();
                latch.await();
                long token = client.checkExists().forPath(latch.getOurPath()).getCzxid();
                long start = System.nanoTime();
                System.out.println("LEADER " + id + " " + token + " " + nowNs());
                while (true) {
                    long at = nowNs();
                    if (!latch.hasLeadership()) {
                        System.out.println("NOT_LEADER " + id + " " + token + " " + nowNs() + " curator");
                        latch.close();
                        break;
                    }
                    if ((System.nanoTime() - start) / 1_000_000L >= leadMs) {
                        latch.close();
                        System.out.println("NOT_LEADER " + id + " " + token + " " + nowNs() + " released");
                        break;
                    }
                    System.out.println("WORK " + id + " " + token + " " + at);
                    Thread.sleep(10);
                }
            }
        }
    }
}
