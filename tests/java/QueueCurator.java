import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.queue.SimpleDistributedQueue;
import org.apache.curator.retry.RetryOneTime;

/**
 * Curator's SimpleDistributedQueue (ZooKeeper's qn- layout) on the same path as
 * zk_recipes::queue::Queue::simple.
 *
 * offer HOSTS PATH ITEM...: offers each item (UTF-8), prints "OFFERED <n>".
 * take HOSTS PATH N: takes N items (waiting for each), prints "TOOK <item>" each, then "END".
 */
public class QueueCurator {
    public static void main(String[] args) throws Exception {
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(args[1], new RetryOneTime(100))) {
            client.start();
            SimpleDistributedQueue queue = new SimpleDistributedQueue(client, args[2]);
            if (args[0].equals("offer")) {
                for (int i = 3; i < args.length; i++) {
                    queue.offer(args[i].getBytes("UTF-8"));
                }
                System.out.println("OFFERED " + (args.length - 3));
            } else {
                int n = Integer.parseInt(args[3]);
                for (int i = 0; i < n; i++) {
                    System.out.println("TOOK " + new String(queue.take(), "UTF-8"));
                    System.out.flush();
                }
                System.out.println("END");
            }
        }
    }
}
