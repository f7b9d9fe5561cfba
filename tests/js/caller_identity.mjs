// Ask STS who we are with the AWS SDK for JavaScript v3's default credentials,
// and print the identity with the credentials it used (their key id and expiry).
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const client = new STSClient({ region: process.env.AWS_REGION || "us-east-1" });
const identity = await client.send(new GetCallerIdentityCommand({}));
const credentials = await client.config.credentials();
console.log(JSON.stringify({
  UserId: identity.UserId,
  AccessKeyId: credentials.accessKeyId,
  Expiration: credentials.expiration ? credentials.expiration.toISOString() : null,
}));
