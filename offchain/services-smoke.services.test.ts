import { describe, expect, it } from '@jest/globals';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { randomUUID } from 'node:crypto';

/** The real services that .ci/run starts (see .ci/services/README.md); each must answer. */
const required = (name: string): string => {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: start the services with .ci/run or .ci/services/*.sh start`);
  return value;
};

describe('services started by .ci/run', () => {
  it('PostgreSQL answers a query', async () => {
    const client = new pg.Client({ connectionString: required('PG_URL') });
    await client.connect();
    try {
      const result = await client.query<{ sum: number }>('select 40 + 2 as sum');
      expect(result.rows[0]?.sum).toBe(42);
    } finally {
      await client.end();
    }
  });

  it('Swift puts and gets an object through its S3 API', async () => {
    const s3 = new S3Client({
      endpoint: required('S3_ENDPOINT'),
      region: process.env.S3_REGION ?? 'us-east-1',
      forcePathStyle: true,
      credentials: {
        accessKeyId: required('S3_ACCESS_KEY_ID'),
        secretAccessKey: required('S3_SECRET_ACCESS_KEY'),
      },
    });
    const bucket = `smoke-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const body = `hello ${randomUUID()}`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/b.txt', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/b.txt' }));
    expect(await got.Body?.transformToString()).toBe(body);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'a/b.txt' }));
    s3.destroy();
  });

  it('Kafka carries a message from a producer to a consumer group', async () => {
    const kafka = new Kafka({
      clientId: 'smoke',
      brokers: required('KAFKA_BROKERS').split(','),
      logLevel: logLevel.NOTHING,
    });
    const topic = `smoke-${randomUUID().slice(0, 8)}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'party-1', value: 'round 1 started' }] });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 30 s')), 30000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve(`${message.key?.toString()}: ${message.value?.toString()}`);
        },
      });
    });
    await consumer.disconnect();
    expect(received).toBe('party-1: round 1 started');
  });
});
