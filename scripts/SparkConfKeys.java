// Prints the Spark conf keys that Spark's own jars define; run by scripts/spark_conf_keys.py:
//   java -cp 'pyspark/jars/*' scripts/SparkConfKeys.java pyspark/jars
//
// Output, one per line, tab-separated: "key <k>", "alt <k>" (an older name Spark still reads)
// or "prefix <p>" (a family of keys, "spark.kubernetes.driver.label."). Sources:
// - the registry of every ConfigEntry (`ConfigEntry.knownConfigs`), filled by initialising the
//   Scala objects that define entries: those of `org.apache.spark.internal.config` and every
//   `*Config$`/`*Conf$` object of the spark-* jars;
// - the `*_PREFIX` string constants of those objects: a value ending in "." is a family, any
//   other is joined with each `*_SUFFIX` constant of the same object (the
//   `spark.kubernetes.authenticate.<who>.<credential>` keys are built so);
// - the resource families `spark.{driver,executor}.resource.` (ResourceUtils);
// - the `spark.*` string constants of spark-kubernetes' objects with at least three dotted
//   parts (keys read without a ConfigEntry, such as the Volcano pod group template's);
// - the `spark.*` constants of `SparkLauncher` (spark.driver.defaultJavaOptions ...).
import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

public class SparkConfKeys {
    static final TreeSet<String> OUT = new TreeSet<>();
    static final ClassLoader LOADER = SparkConfKeys.class.getClassLoader();

    public static void main(String[] args) throws Exception {
        File[] jars = new File(args[0]).listFiles((dir, name) -> name.startsWith("spark-") && name.endsWith(".jar"));
        for (File jar : jars) {
            try (JarFile file = new JarFile(jar)) {
                for (Enumeration<JarEntry> e = file.entries(); e.hasMoreElements();) {
                    String name = e.nextElement().getName();
                    if (!name.endsWith("$.class") || name.indexOf('$') != name.length() - 7) continue;
                    String cls = name.substring(0, name.length() - 6).replace('/', '.');
                    if (!cls.startsWith("org.apache.spark.")) continue;
                    boolean configObject = cls.startsWith("org.apache.spark.internal.config.")
                        || cls.endsWith("Config$") || cls.endsWith("Conf$");
                    boolean kubernetes = cls.startsWith("org.apache.spark.deploy.k8s.");
                    if (configObject || kubernetes) scan(cls, configObject, kubernetes);
                }
            }
        }
        Object resources = module("org.apache.spark.resource.ResourceUtils$");
        Object core = module("org.apache.spark.internal.config.package$");
        String resource = constant(resources, "RESOURCE_PREFIX");
        for (String who : new String[] {"SPARK_DRIVER_PREFIX", "SPARK_EXECUTOR_PREFIX"}) {
            OUT.add("prefix\t" + constant(core, who) + "." + resource + ".");
        }
        for (Field f : Class.forName("org.apache.spark.launcher.SparkLauncher", true, LOADER).getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                String v = (String) f.get(null);
                if (v.startsWith("spark.")) OUT.add("key\t" + v);
            }
        }
        Object entries = module("org.apache.spark.internal.config.ConfigEntry$");
        Map<?, ?> registry = (Map<?, ?>) entries.getClass().getMethod("knownConfigs").invoke(entries);
        for (Map.Entry<?, ?> entry : registry.entrySet()) {
            OUT.add("key\t" + entry.getKey());
            Object value = entry.getValue();
            Object alternatives = value.getClass().getMethod("alternatives").invoke(value);
            scala.collection.Iterator<?> it = ((scala.collection.Iterable<?>) alternatives).iterator();
            while (it.hasNext()) OUT.add("alt\t" + it.next());
        }
        for (String line : OUT) System.out.println(line);
    }

    static Object module(String cls) throws Exception {
        return Class.forName(cls, true, LOADER).getField("MODULE$").get(null);
    }

    static String constant(Object module, String name) throws Exception {
        return (String) module.getClass().getMethod(name).invoke(module);
    }

    static void scan(String cls, boolean configObject, boolean kubernetes) {
        Object module;
        try {
            module = module(cls);
        } catch (Throwable t) {
            return; // an object that cannot initialise here defines nothing we can read
        }
        List<String> stems = new ArrayList<>();
        List<String> suffixes = new ArrayList<>();
        for (Method m : module.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || m.getReturnType() != String.class
                || Modifier.isStatic(m.getModifiers())) continue;
            String value;
            try {
                value = (String) m.invoke(module);
            } catch (Throwable t) {
                continue;
            }
            if (value == null) continue;
            String name = m.getName();
            if (name.endsWith("_SUFFIX")) suffixes.add(value);
            if (!value.startsWith("spark.")) continue;
            if (name.endsWith("PREFIX")) {
                if (value.endsWith(".")) OUT.add("prefix\t" + value);
                else stems.add(value);
            } else if (kubernetes && value.split("\\.").length >= 3 && !value.endsWith(".")) {
                OUT.add("key\t" + value);
            }
        }
        for (String stem : stems) {
            for (String suffix : suffixes) OUT.add("key\t" + stem + "." + suffix);
        }
    }
}
