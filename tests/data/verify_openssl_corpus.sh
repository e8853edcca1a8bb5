set -e
# make_root NAME START END EXTS  (EXTS: extension lines for the root)
cat > ca.cnf <<'X'
[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial
crlnumber = crlnumber
default_md = sha256
default_crl_days = 30
policy = pol
unique_subject = no
[pol]
commonName = supplied
X
make_root() {
  name=$1; start=$2; end=$3; shift 3
  : > index.txt; echo 1000 > serial; echo 01 > crlnumber
  printf '%s\n' "[ext]" "basicConstraints=critical,CA:TRUE" "subjectKeyIdentifier=hash" "$@" > $name.ext
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $name.key 2>/dev/null
  openssl req -new -key $name.key -subj "/CN=$name" -out $name.csr
  openssl ca -batch -selfsign -config ca.cnf -keyfile $name.key -in $name.csr -out $name.crt \
    -startdate $start -enddate $end -extfile $name.ext -extensions ext -notext 2>/dev/null
  cp index.txt $name.index
}
# make_leaf ROOT NAME SUBJ EXTS...
make_leaf() {
  root=$1; name=$2; subj=$3; shift 3
  printf '%s\n' "[ext]" "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth" "$@" > $name.ext
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $name.key 2>/dev/null
  openssl req -new -key $name.key -subj "$subj" -out $name.csr
  openssl x509 -req -in $name.csr -CA $root.crt -CAkey $root.key -CAcreateserial -days 30 \
    -extfile $name.ext -extensions ext -out $name.crt 2>/dev/null
}
KU="keyUsage=critical,keyCertSign,cRLSign"
make_root okroot 20250101000000Z 20351231000000Z "$KU"
make_leaf okroot good "/CN=good" "authorityKeyIdentifier=keyid"
make_root expiredroot 20200101000000Z 20210101000000Z "$KU"
make_leaf expiredroot expired-root "/CN=expired-root" "authorityKeyIdentifier=keyid"
make_root ncroot 20250101000000Z 20351231000000Z "$KU" "nameConstraints=critical,permitted;DNS:example.com"
make_leaf ncroot cn-outside-nc "/CN=evil.other.org" "authorityKeyIdentifier=keyid"
make_root futureroot 20400101000000Z 20451231000000Z "$KU"
make_leaf futureroot future-ca "/CN=future-ca" "authorityKeyIdentifier=keyid"
make_leaf okroot critical-aki "/CN=critical-aki" "authorityKeyIdentifier=critical,keyid"
make_root nocrlsign 20250101000000Z 20351231000000Z "keyUsage=critical,keyCertSign"
make_leaf nocrlsign crl-signer-without-crlsign "/CN=crl-signer-without-crlsign" "authorityKeyIdentifier=keyid"
cp nocrlsign.index index.txt
openssl ca -gencrl -config ca.cnf -cert nocrlsign.crt -keyfile nocrlsign.key -out nocrlsign.crl 2>/dev/null
make_root emailroot 20250101000000Z 20351231000000Z "$KU" "nameConstraints=critical,permitted;email:example.com"
make_leaf emailroot email-nc "/CN=alice" "authorityKeyIdentifier=keyid" "subjectAltName=email:alice@example.com"
