import java.time.Instant;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.retry.RetryOneTime;

/**
 * Curator's CuratorCache over HOSTS PATH, for the tree cache benchmark and tests.
 * Prints "INIT_MS <milliseconds from start() to initialized> <nodes>", then one
 * "EVENT <CREATED|CHANGED|DELETED> <path> <unix ns at the listener>" line per event after the
 * initial load (the initial load's creates are not printed, so printing does not slow it).
 */
public class CacheCurator {
    static long unixNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    public static void main(String[] args) throws Exception {
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(args[0], new RetryOneTime(100))) {
            client.start();
            client.blockUntilConnected();
            CuratorCache cache = CuratorCache.build(client, args[1]);
            long[] start = new long[1];
            boolean[] ready = new boolean[1];
            CuratorCacheListener listener = CuratorCacheListener.builder()
                .forInitialized(() -> {
                    long ms = (System.nanoTime() - start[0]) / 1_000_000;
                    System.out.println("INIT_MS " + ms + " " + cache.size());
                    System.out.flush();
                    ready[0] = true;
                })
                .forCreates(n -> { if (ready[0]) emit("CREATED", n.getPath()); })
                .forChanges((old, n) -> { if (ready[0]) emit("CHANGED", n.getPath()); })
                .forDeletes(old -> { if (ready[0]) emit("DELETED", old.getPath()); })
                .build();
            cache.listenable().addListener(listener);
            start[0] = System.nanoTime();
            cache.start();
            Thread.sleep(Long.MAX_VALUE);
        }
    }

    static void emit(String kind, String path) {
        long ns = unixNanos();
        System.out.println("EVENT " + kind + " " + path + " " + ns);
        System.out.flush();
    }
}
