import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.retry.RetryNTimes;

/**
 * Curator side of the recipes benchmark (bench/benches/recipes_vs_peers.rs).
 * Usage: RecipeBench CONNECT MODE PATH N
 *   uncontended: N acquire+release of one InterProcessMutex; prints RESULT ops_per_sec X
 *   handoff:     11 sessions (1 holder + 10 waiters) take one mutex N times in total; prints
 *                RESULT handoff_p50_us X and RESULT handoff_p99_us Y (release start to next acquire)
 *   failover:    N times: leader closes its LeaderLatch, the queued one takes over; prints
 *                RESULT failover_p50_us X and RESULT failover_p99_us Y
 */
public class RecipeBench {
    static CuratorFramework client(String connect) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(connect)
                .sessionTimeoutMs(10000).connectionTimeoutMs(10000)
                .retryPolicy(new RetryNTimes(3, 100)).build();
        c.start();
        c.blockUntilConnected();
        return c;
    }

    static long pct(List<Long> xs, double p) {
        List<Long> s = new ArrayList<>(xs);
        Collections.sort(s);
        int i = (int) Math.min(s.size() - 1, Math.floor(p * s.size()));
        return s.get(i);
    }

    public static void main(String[] args) throws Exception {
        String connect = args[0], mode = args[1], path = args[2];
        int n = Integer.parseInt(args[3]);
        switch (mode) {
            case "uncontended": {
                try (CuratorFramework c = client(connect)) {
                    InterProcessMutex m = new InterProcessMutex(c, path);
                    for (int i = 0; i < 50; i++) { m.acquire(); m.release(); }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) { m.acquire(); m.release(); }
                    double secs = (System.nanoTime() - t0) / 1e9;
                    System.out.println("RESULT ops_per_sec " + (n / secs));
                }
                break;
            }
            case "handoff": {
                int contenders = 11;
                List<CuratorFramework> clients = new ArrayList<>();
                for (int i = 0; i < contenders; i++) clients.add(client(connect));
                List<long[]> events = Collections.synchronizedList(new ArrayList<>());
                CountDownLatch done = new CountDownLatch(contenders);
                int per = Math.max(1, n / contenders);
                for (int i = 0; i < contenders; i++) {
                    InterProcessMutex m = new InterProcessMutex(clients.get(i), path);
                    new Thread(() -> {
                        try {
                            for (int r = 0; r < per; r++) {
                                m.acquire();
                                events.add(new long[] {System.nanoTime(), 1});
                                events.add(new long[] {System.nanoTime(), 0});
                                m.release();
                            }
                        } catch (Exception e) {
                            e.printStackTrace();
                        } finally {
                            done.countDown();
                        }
                    }).start();
                }
                done.await();
                List<long[]> sorted = new ArrayList<>(events);
                sorted.sort((a, b) -> Long.compare(a[0], b[0]));
                List<Long> gaps = new ArrayList<>();
                for (int i = 1; i < sorted.size(); i++) {
                    if (sorted.get(i - 1)[1] == 0 && sorted.get(i)[1] == 1) {
                        gaps.add((sorted.get(i)[0] - sorted.get(i - 1)[0]) / 1000);
                    }
                }
                System.out.println("RESULT handoff_p50_us " + pct(gaps, 0.50));
                System.out.println("RESULT handoff_p99_us " + pct(gaps, 0.99));
                for (CuratorFramework c : clients) c.close();
                break;
            }
            case "failover": {
                try (CuratorFramework a = client(connect); CuratorFramework b = client(connect)) {
                    List<Long> gaps = new ArrayList<>();
                    for (int i = 0; i < n; i++) {
                        LeaderLatch first = new LeaderLatch(a, path, "a");
                        first.start();
                        first.await();
                        LeaderLatch second = new LeaderLatch(b, path, "b");
                        second.start();
                        while (second.getParticipants().size() < 2) Thread.sleep(1);
                        long t0 = System.nanoTime();
                        first.close();
                        second.await();
                        gaps.add((System.nanoTime() - t0) / 1000);
                        second.close();
                    }
                    System.out.println("RESULT failover_p50_us " + pct(gaps, 0.50));
                    System.out.println("RESULT failover_p99_us " + pct(gaps, 0.99));
                }
                break;
            }
            default:
                throw new IllegalArgumentException(mode);
        }
    }
}
