export const handler = async (event) => {
  for (const record of event.Records) {
    console.log(`received notification: ${record.Sns.Message}`);
  }
};
