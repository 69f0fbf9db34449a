import java.util.Map;
import java.util.TreeMap;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.nodes.GroupMember;
import org.apache.curator.retry.RetryOneTime;

/**
 * Curator's GroupMember on the same group as zk_recipes::group::GroupMember.
 *
 * HOSTS PATH ID DATA WANT: joins as ID with DATA, waits (at most 30 s) until member WANT is
 * seen, prints "MEMBERS <id>=<data> ..." (sorted), then stays a member until killed.
 */
public class GroupCurator {
    public static void main(String[] args) throws Exception {
        try (CuratorFramework client = CuratorFrameworkFactory.newClient(args[0], new RetryOneTime(100))) {
            client.start();
            GroupMember member = new GroupMember(client, args[1], args[2], args[3].getBytes("UTF-8"));
            member.start();
            long until = System.currentTimeMillis() + 30_000;
            Map<String, byte[]> members = member.getCurrentMembers();
            while (!members.containsKey(args[4]) && System.currentTimeMillis() < until) {
                Thread.sleep(50);
                members = member.getCurrentMembers();
            }
            StringBuilder line = new StringBuilder("MEMBERS");
            for (Map.Entry<String, byte[]> e : new TreeMap<>(members).entrySet()) {
                line.append(' ').append(e.getKey()).append('=').append(new String(e.getValue(), "UTF-8"));
            }
            System.out.println(line);
            System.out.flush();
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
