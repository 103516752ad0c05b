"""The emulator's certificate and policy registry: what AWS IoT checks when devices get an identity.

moto's certificates are not checked against their CA, its registration code changes on every call and it
cannot list CA certificates, so the emulator answers every certificate, CA, policy and thing-principal
operation itself (no moto code is involved):

* :mod:`.models`: certificates, CA certificates, policies and versions, and how the API shows them;
* :mod:`.x509_checks`: what AWS checks in a certificate it is given, and the errors it answers with;
* :mod:`.policy_documents`: the checks of a policy document (``MalformedPolicyException``);
* :mod:`.issuer`: the stand-in for Amazon's CA (CreateKeysAndCertificate, CreateCertificateFromCsr);
* :mod:`.registry`: the store of one account and region, its rules, and the cheap lookups a broker needs
  (a certificate by PEM, DER or id; its status and CA; its policies and things);
* :mod:`.handlers_certificates`, :mod:`.handlers_policies`: the operations.
"""
