import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertPath;
import java.security.cert.CertPathBuilder;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.Certificate;
import java.security.cert.CertStore;
import java.security.cert.CertificateFactory;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CertSelector;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Java's PKIX path validation (sun.security.provider.certpath), as a TLS peer applies it.
 *
 * Reads lines "ANCHOR_PEM<TAB>CHAIN_PEM" on stdin: the trust anchor (a root certificate)
 * and the path to validate, leaf first (fullchain.pem). Prints one line per input line:
 * "ok", or "refused: " and the validator's reason. Revocation checking is off: the
 * tests ask about names and signatures, not about CRLs or OCSP.
 *
 * A third field "build" asks the JDK's CertPathBuilder instead, as a TLS peer's trust
 * manager does with what a server sent: from the leaf (the first certificate) to the
 * anchor, through any of the others, in any order (a cross certificate it may skip).
 */
public final class PkixCheck {
    public static void main(String[] args) throws Exception {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        CertPathValidator validator = CertPathValidator.getInstance("PKIX");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] files = line.split("\t");
            X509Certificate anchor = (X509Certificate) read(factory, files[0]).get(0);
            List<Certificate> chain = read(factory, files[1]);
            if (files.length > 2 && files[2].equals("build")) {
                System.out.println(build(anchor, chain));
                continue;
            }
            CertPath path = factory.generateCertPath(chain);
            PKIXParameters params =
                new PKIXParameters(Collections.singleton(new TrustAnchor(anchor, null)));
            params.setRevocationEnabled(false);
            try {
                validator.validate(path, params);
                System.out.println("ok");
            } catch (CertPathValidatorException e) {
                System.out.println("refused: " + e.getMessage());
            } catch (RuntimeException e) {
                // Java 17 and 25 throw ArrayIndexOutOfBoundsException for a CN of 0.0.0.0
                // under IPv4 and IPv6 constraints: a TLS peer fails the handshake just the same
                System.out.println("refused: " + e);
            }
        }
    }

    private static String build(X509Certificate anchor, List<Certificate> sent) throws Exception {
        X509CertSelector leaf = new X509CertSelector();
        leaf.setCertificate((X509Certificate) sent.get(0));
        PKIXBuilderParameters params =
            new PKIXBuilderParameters(Collections.singleton(new TrustAnchor(anchor, null)), leaf);
        params.setRevocationEnabled(false);
        params.addCertStore(
            CertStore.getInstance("Collection", new CollectionCertStoreParameters(sent)));
        try {
            CertPathBuilder.getInstance("PKIX").build(params);
            return "ok";
        } catch (CertPathBuilderException e) {
            return "refused: " + e.getMessage();
        }
    }

    private static List<Certificate> read(CertificateFactory factory, String file) throws Exception {
        try (InputStream stream = new FileInputStream(file)) {
            return new ArrayList<>(factory.generateCertificates(stream));
        }
    }
}
