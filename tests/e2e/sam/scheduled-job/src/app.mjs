export const handler = async (event) => {
  console.log(`running scheduled job ${event.job}`);
  return { done: event.job };
};
