import java.time.Instant;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;

/**
 * Curator peer of the `lock` example: same arguments (positional: connect path id holdMs rounds)
 * and the same output lines (ACQUIRED/WORK/RELEASED id token unix_ns; token = czxid).
 * WORK lines assert what Curator believes (isAcquiredInThisProcess).
 */
public class RecipeLockWorker {
    static long nowNs() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0], path = args[1], id = args[2];
        long holdMs = Long.parseLong(args[3]);
        int rounds = Integer.parseInt(args[4]);
        try (CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect).sessionTimeoutMs(4000).connectionTimeoutMs(4000)
                .retryPolicy(new RetryNTimes(20, 100)).build()) {
            client.start();
            client.blockUntilConnected();
            InterProcessMutex mutex = new InterProcessMutex(client, path);
            System.out.println("READY " + id + " " + nowNs());
            for (int r = 0; r < rounds; r++) {
                mutex.acquire();
                String node = mutex.getParticipantNodes().iterator().next();
                long token = client.checkExists().forPath(node).getCzxid();
                long start = System.nanoTime();
                System.out.println("ACQUIRED " + id + " " + token + " " + nowNs());
                while (true) {
                    long at = nowNs();
                    if (!mutex.isAcquiredInThisProcess()) {
                        System.out.println("LOST " + id + " " + token + " " + nowNs() + " curator");
                        break;
                    }
                    if ((System.nanoTime() - start) / 1_000_000L >= holdMs) {
                        mutex.release();
                        System.out.println("RELEASED " + id + " " + token + " " + nowNs());
                        break;
                    }
                    System.out.println("WORK " + id + " " + token + " " + at);
                    Thread.sleep(10);
                }
            }
            System.out.println("DONE " + id + " " + nowNs());
        }
    }
}
